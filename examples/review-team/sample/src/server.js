import { createServer } from 'node:http';
import { route } from './routes.js';

// TODO: close open connections on SIGTERM
const server = createServer((req, res) => route(req, res));
server.listen(8080, () => {
  console.log('listening on 8080');
});
export const banner = 'review-team sample server: a tiny HTTP service whose only purpose is to give the reviewers something to flag';
