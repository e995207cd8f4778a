// A plain static file server for the publishing test: files under one folder with their
// content types and nothing else (no cross-origin isolation, no cache headers, unlike
// xtask's dev server), as a generic static host serves a site. `headers` adds fixed
// headers to every answer (the model host's Access-Control-Allow-Origin).

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
};

/**
 * Serves `root` on `host`, on a free port, until `close()`.
 * @param {string} root
 * @param {{host?: string, headers?: Record<string, string>}} [opts]
 */
export async function serveStatic(root, { host = '127.0.0.1', headers = {} } = {}) {
  const server = createServer(async (req, res) => {
    const answer = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, Buffer.from('method not allowed'));
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://host.invalid').pathname);
    } catch {
      return answer(400, Buffer.from('bad path'));
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) return answer(403, Buffer.from('outside the root'));
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      answer(200, await readFile(file), TYPES[extname(file)] ?? 'application/octet-stream');
    } catch {
      answer(404, Buffer.from('not found'));
    }
  });
  await new Promise((resolve) => server.listen(0, host, () => resolve(undefined)));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://${host}:${port}/`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve(undefined)); }),
  };
}
