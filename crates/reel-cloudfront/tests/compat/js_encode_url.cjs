// Reference for reel-cloudfront's `encode_url` test: the URL @aws-sdk/cloudfront-signer's
// getSignedUrl signs (its internal encodeUrlPath), read back from a canned signed URL by
// removing the signature parameters it appends.
//
// Reads one JSON case per line on stdin ({id, url, key}), writes one JSON line each
// ({id, encoded}).
"use strict";

const fs = require("node:fs");
const readline = require("node:readline");
const { getSignedUrl } = require("@aws-sdk/cloudfront-signer");

const keys = new Map();
function loadKey(path) {
  if (!keys.has(path)) keys.set(path, fs.readFileSync(path, "utf8"));
  return keys.get(path);
}

const lines = readline.createInterface({ input: process.stdin });
const out = [];
lines.on("line", (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  const signed = getSignedUrl({
    url: c.url,
    keyPairId: "KENCODE",
    privateKey: loadKey(c.key),
    dateLessThan: 4102444800 * 1000,
  });
  // Canned URLs end with [?&]Expires=...&Key-Pair-Id=...&Signature=...
  const at = signed.lastIndexOf("Expires=");
  out.push(JSON.stringify({ id: c.id, encoded: signed.slice(0, at - 1) }));
});
lines.on("close", () => {
  process.stdout.write(out.join("\n") + "\n");
});
