import { clamp } from './math.js';

export function route(req, res) {
  const limit = clamp(Number(new URL(req.url, 'http://x').searchParams.get('limit') ?? 10), 1, 100);
  console.log(req.method, req.url, limit);
  res.end(JSON.stringify({ limit }));
}
