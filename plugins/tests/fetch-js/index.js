// A standard `wasi:http/proxy` component in JavaScript (componentize-js's
// fetch event; no berth WIT), for the tests. Mounted by berth at /<name>, it
// sees the path below the mount point and the `x-forwarded-prefix` the host
// sets:
//
// - `POST /length` (or any method): reads the body, answers its length;
// - anything else: JSON with the method, path, query (`q`), the `x-echo`
//   header and the prefix it saw.

function json(body) {
  return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
}

async function answer(request) {
  const url = new URL(request.url);
  if (url.pathname === '/length') {
    const body = new Uint8Array(await request.arrayBuffer());
    return json({ method: request.method, length: body.length });
  }
  return json({
    method: request.method,
    path: url.pathname,
    query: url.searchParams.get('q'),
    header: request.headers.get('x-echo'),
    prefix: request.headers.get('x-forwarded-prefix'),
  });
}

addEventListener('fetch', (event) => event.respondWith(answer(event.request)));
