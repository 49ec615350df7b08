// An echo server made with Debian's node-ws, for test_client_peers.
// Prints "PORT <n>" once listening on 127.0.0.1 (port chosen by the kernel), then
// echoes every message with its type until killed. The text "close-me" makes it
// close with 4001 "node-bye". With --deflate every message is compressed
// (permessage-deflate, threshold 0).
'use strict';
const WebSocket = require('/usr/share/nodejs/ws');

const deflate = process.argv.includes('--deflate');
const wss = new WebSocket.Server({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 1 << 24,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
});
wss.on('listening', () => console.log('PORT ' + wss.address().port));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'close-me') {
      ws.close(4001, 'node-bye');
      return;
    }
    ws.send(data, { binary: isBinary });
  });
});
