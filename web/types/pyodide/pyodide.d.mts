// Pyodide's loader as web/code-worker.js uses it, for `npm run checkjs`: the worker imports
// ../pyodide/pyodide.mjs, which exists only in www/ after a build (xtask copies npm's
// `pyodide` there). jsconfig.json's rootDirs resolves that import here.

export function loadPyodide(options: { indexURL: string; fullStdLib?: boolean }): Promise<any>;
