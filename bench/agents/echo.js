// echo in JavaScript: run(task) returns the task, like agents/echo.wat. Built twice for the
// languages section of the benchmark (bench/languages.mjs): with StarlingMonkey (our world) and
// with QuickJS (a world with only the `run` export: QuickJS cannot build worlds with wasi:http).

export function run(task) {
  return task;
}
