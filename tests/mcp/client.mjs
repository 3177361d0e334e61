// Drives pgward-mcp with the official MCP TypeScript SDK over stdio, for
// tests/integration/test_mcp.py. Usage: node client.mjs PGWARD_MCP [ARGS...]
// Then one JSON command per line on stdin, one JSON answer per line out:
//   {"op":"list"}                          -> {"ok":true,"result":{tools:[...]}}
//   {"op":"call","name":N,"arguments":{}}  -> {"ok":true,"result":CallToolResult}
//   {"op":"close"}
// The first line out is {"ready":true,"server":...,"protocolVersion":...}.
// A protocol error is {"ok":false,"error":{"code":C,"message":M}}.
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "inherit" });
const client = new Client({ name: "pgward-mcp-test", version: "1.0.0" });
await client.connect(transport);
out({ ready: true, server: client.getServerVersion(), capabilities: client.getServerCapabilities(),
      protocolVersion: transport._protocolVersion ?? null });

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  try {
    if (cmd.op === "list") out({ ok: true, result: await client.listTools() });
    else if (cmd.op === "call")
      out({ ok: true, result: await client.callTool({ name: cmd.name, arguments: cmd.arguments ?? {} },
                                                   undefined, { timeout: 90000 }) });
    else if (cmd.op === "close") break;
    else out({ ok: false, error: { code: 0, message: "unknown op " + cmd.op } });
  } catch (e) {
    out({ ok: false, error: { code: e.code ?? null, message: String(e.message ?? e) } });
  }
}
await client.close();
