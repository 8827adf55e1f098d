#!/usr/bin/env node
// aura-node-run: starts a run, prints its progress as it streams, then the typed result.
//
//   node dist/run.js [--address 127.0.0.1:8006] [--json] DEFINITION '{"user_id": "ada", ...}'
//
// Progress goes to stderr, one line per event; with --json, stdout gets one JSON summary.
// TLS: --ca FILE (or AURA_TLS_CA) connects with TLS, verifying the orchestrator against that
// CA; --cert FILE --key FILE (or AURA_TLS_CLIENT_CERT/KEY) present a client certificate (mTLS).
import type { RecommendItemsResponse__Output } from "./generated/aura/recommendation/v1/RecommendItemsResponse";
import { type JsonValue, Orchestrator, type RunEvent, type TlsFiles, tlsFromEnv, unpackAny } from "./index";

interface Args {
  address: string;
  tls?: TlsFiles;
  json: boolean;
  definition: string;
  input: { [key: string]: JsonValue };
}

function parseArgs(argv: string[]): Args {
  let address = process.env.AURA_ADDRESS ?? "127.0.0.1:8006";
  let json = false;
  let tls = tlsFromEnv();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--address") address = argv[++i];
    else if (argv[i] === "--json") json = true;
    else if (argv[i] === "--ca") tls = { ...tls, ca: argv[++i] };
    else if (argv[i] === "--cert") tls = { ca: "", ...tls, cert: argv[++i] };
    else if (argv[i] === "--key") tls = { ca: "", ...tls, key: argv[++i] };
    else positional.push(argv[i]);
  }
  if (positional.length < 1) {
    throw new Error(
      "usage: aura-node-run [--address HOST:PORT] [--ca FILE [--cert FILE --key FILE]] [--json] " +
        "DEFINITION [INPUT_JSON]",
    );
  }
  if (tls !== undefined && !tls.ca) throw new Error("--cert and --key need --ca (or AURA_TLS_CA)");
  return { address, tls, json, definition: positional[0], input: JSON.parse(positional[1] ?? "{}") };
}

function describe(event: RunEvent): string {
  const kind = event.event ?? "unknown";
  const body = (event as unknown as Record<string, { step_id?: string; attempt?: number } | null>)[kind];
  const step = body?.step_id ? ` ${body.step_id}` : "";
  const attempt = body?.attempt ? ` #${body.attempt}` : "";
  const finished = event.run_finished ? ` ${event.run_finished.state}` : "";
  return `${event.seq} ${kind}${step}${attempt}${finished}`;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const orchestrator = Orchestrator.connect(args.address, args.tls);
  try {
    const name = await orchestrator.start(args.definition, args.input);
    process.stderr.write(`started ${name}\n`);
    const seqs: number[] = [];
    for await (const event of orchestrator.watch(name)) {
      seqs.push(Number(event.seq));
      process.stderr.write(`${describe(event)}\n`);
    }
    const run = await orchestrator.get(name);
    const steps = run.steps.map((step) => {
      const output = unpackAny<Record<string, unknown>>(step.output);
      return { step_id: step.step_id, state: step.state, attempts: step.attempts, output_type: output?.typeName ?? "" };
    });
    let recommendations: { name: string; price: string; reason: string }[] = [];
    for (const step of run.steps) {
      const output = unpackAny<RecommendItemsResponse__Output>(step.output);
      if (output?.typeName === "aura.recommendation.v1.RecommendItemsResponse") {
        recommendations = output.message.recommendations.map((r) => ({
          name: r.item?.name ?? "",
          price: `${r.item?.price?.units ?? "0"} ${r.item?.price?.currency_code ?? ""}`,
          reason: r.reason,
        }));
      }
    }
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ name: run.name, state: run.state, event_seqs: seqs, steps, recommendations })}\n`,
      );
    } else {
      process.stdout.write(`${run.name} ${run.state}\n`);
      for (const r of recommendations) process.stdout.write(`  ${r.name} (${r.price}): ${r.reason}\n`);
    }
    return run.state === "RUN_STATE_SUCCEEDED" ? 0 : 2;
  } finally {
    orchestrator.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error & { code?: number; details?: string }) => {
    process.stderr.write(`aura-node-run: ${error.details ?? error.message}\n`);
    process.exit(1);
  },
);
