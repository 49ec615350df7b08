// llhttp_verdict.js: prints llhttp's verdict (node's bundled parser, strict mode)
// on each request of a record file (4-byte big-endian length, then the bytes), in
// the line format of flared_verdict.c:
//   A BODY_LEN KEEP_ALIVE UPGRADE METHOD TARGET N NAME:VALUE...  (strings in hex)
//   R ERROR_CODE
//   I
// A record is accepted once its first message completes; what follows is not
// looked at. Header values are trimmed of SP/HTAB like flared's.
'use strict';
const fs = require('fs');

// The method argument of onHeadersComplete indexes llhttp's whole method table,
// which only the (deprecated) binding exports; _http_common has the parser.
process.noDeprecation = true;
let HTTPParser, allMethods;
try {
  ({ HTTPParser } = require('_http_common'));
} catch (e) {
  ({ HTTPParser } = process.binding('http_parser'));
}
try {
  ({ allMethods } = process.binding('http_parser'));
} catch (e) {
  allMethods = require('_http_common').methods;
}

const hex = (s) => (s.length ? Buffer.from(s, 'latin1').toString('hex') : '-');
const trim = (s) => s.replace(/^[ \t]+|[ \t]+$/g, '');

function verdict(buf) {
  const p = new HTTPParser();
  let done = false;
  let head = null;
  let headers = [];
  let url = '';
  let body = 0;
  // Long heads arrive in pieces: kOnHeaders(headers, url) before kOnHeadersComplete.
  // After it, kOnHeaders carries trailer fields, which are not head fields.
  p[HTTPParser.kOnHeaders] = (h, u) => {
    if (head || done) return;
    headers = headers.concat(h);
    url += u || '';
  };
  p[HTTPParser.kOnHeadersComplete] = (vMajor, vMinor, h, method, u, sc, sm, upgrade, ka) => {
    if (head || done) return 0;
    if (h) headers = headers.concat(h);
    url += u || '';
    head = { method: allMethods[method], url, upgrade, ka };
    return 0;
  };
  p[HTTPParser.kOnBody] = (b) => {
    if (!done) body += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    done = true;
  };
  p[HTTPParser.kOnExecute] = () => {};
  // Strict (no lenient flags); 64 KiB of header bytes, flared's default head limit.
  p.initialize(HTTPParser.REQUEST, {}, 65536, 0);
  const r = p.execute(buf);
  if (done) {
    const fields = [];
    for (let i = 0; i + 1 < headers.length; i += 2)
      fields.push(hex(headers[i]) + ':' + hex(trim(headers[i + 1])));
    return ['A', body, head.ka ? 1 : 0, head.upgrade ? 1 : 0, hex(head.method || ''),
            hex(head.url), fields.length].concat(fields).join(' ');
  }
  if (r instanceof Error) return 'R ' + r.code;
  return 'I';
}

const data = fs.readFileSync(process.argv[2]);
const out = [];
for (let pos = 0; pos + 4 <= data.length;) {
  const len = data.readUInt32BE(pos);
  pos += 4;
  out.push(verdict(data.subarray(pos, pos + len)));
  pos += len;
}
process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
