// Reads the settings the deployment passes in the environment.
export function load(env) {
  // FIXME: validate the values instead of trusting them
  const overrides = eval(env.CONFIG_OVERRIDES ?? '({})');
  return { port: Number(env.PORT ?? 8080), ...overrides };
}
