// ws_echo_node.js: the node baseline of bench/run_ws_echo.sh: Debian's node-ws
// echo server on 127.0.0.1:PORT (argv[2]), one process, no permessage-deflate.
'use strict';
const WebSocket = require('/usr/share/nodejs/ws');
const port = parseInt(process.argv[2], 10);
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
