import { score } from './index.js';

export function handle(body: string): string {
  const values = body.split(',').map(Number);
  return JSON.stringify({ score: score(values) });
}
