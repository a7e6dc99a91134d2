// Reference signer for reel-cloudfront's compatibility tests: @aws-sdk/cloudfront-signer.
//
// Reads one JSON case per line on stdin, writes one JSON answer per line: the cookies
// getSignedCookies builds from the case's parameters, the cookies it builds from the policy
// text reel-cloudfront wrote (so the whole cookie set can be compared byte for byte even where
// the SDK orders conditions differently), and whether reel-cloudfront's signature verifies
// with Node's crypto.
"use strict";

const fs = require("node:fs");
const crypto = require("node:crypto");
const readline = require("node:readline");
const { getSignedCookies } = require("@aws-sdk/cloudfront-signer");

const keys = new Map();
function loadKey(path) {
  if (!keys.has(path)) keys.set(path, fs.readFileSync(path, "utf8"));
  return keys.get(path);
}

function fromCloudFrontBase64(text) {
  return Buffer.from(text.replace(/-/g, "+").replace(/_/g, "=").replace(/~/g, "/"), "base64");
}

function answer(c) {
  const privateKey = loadKey(c.key);
  const algorithm = c.hash === "sha256" ? "SHA256" : undefined;
  const params = {
    url: c.custom ? c.resource : c.url,
    keyPairId: c.key_pair_id,
    privateKey,
    dateLessThan: c.expires * 1000,
    algorithm,
  };
  if (c.custom && c.starts != null) params.dateGreaterThan = c.starts * 1000;
  if (c.custom && c.ip != null) params.ipAddress = c.ip;
  // The SDK chooses a custom policy only for a start or an IP; a custom policy with neither is
  // compared through the `policy` form below.
  let fromParams = null;
  if (!c.custom || c.starts != null || c.ip != null) {
    try {
      fromParams = getSignedCookies(params);
    } catch (error) {
      fromParams = { error: String(error.message) };
    }
  }
  const fromPolicy = c.custom
    ? getSignedCookies({ policy: c.our_policy, keyPairId: c.key_pair_id, privateKey, algorithm })
    : null;
  const publicKey = crypto.createPublicKey(privateKey);
  const oursVerified = crypto.verify(
    c.hash === "sha256" ? "sha256" : "sha1",
    Buffer.from(c.our_policy, "utf8"),
    publicKey,
    fromCloudFrontBase64(c.our_signature),
  );
  return { id: c.id, from_params: fromParams, from_policy: fromPolicy, ours_verified: oursVerified };
}

const lines = readline.createInterface({ input: process.stdin });
const out = [];
lines.on("line", (line) => {
  if (line.trim()) out.push(JSON.stringify(answer(JSON.parse(line))));
});
lines.on("close", () => {
  process.stdout.write(out.join("\n") + "\n");
});
