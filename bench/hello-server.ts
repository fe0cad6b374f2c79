/**
 * The comparison server of the end-to-end bench: bare uWebSockets.js (the same native build the
 * gateway loads, fallback refused) answering any POST with a small JSON reply once the body has
 * arrived. No parsing, no Redis: the ceiling of the HTTP layer alone on this machine.
 * Prints `hello listening port=<n>` on stdout; exits on SIGTERM.
 */
import { loadUws } from '../gateway/http/uws.ts';

const uws = loadUws(false);
// About the size of a claim answer, so both servers write similar bytes.
const REPLY = '{"status":"issued","couponId":"1.2.3.1732233600000000","templateId":"hello","userId":"u1_1"}';

const app = uws.App()
  .post('/*', (res) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    res.onData((_chunk, isLast) => {
      if (!isLast || aborted) return;
      res.cork(() => {
        res.writeStatus('200 OK');
        res.writeHeader('Content-Type', 'application/json');
        res.end(REPLY);
      });
    });
  })
  .any('/*', (res) => { res.writeStatus('404 Not Found').end(); });

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    console.error('hello: cannot listen on 127.0.0.1');
    process.exit(1);
  }
  console.log(`hello listening port=${uws.us_socket_local_port(socket)}`);
});
