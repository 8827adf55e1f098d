// A small typed client of aura.orchestrator.v1.OrchestratorService on @grpc/grpc-js.
import { readFileSync } from "node:fs";

import * as grpc from "@grpc/grpc-js";

import type { Any__Output } from "./generated/google/protobuf/Any";
import type { Struct } from "./generated/google/protobuf/Struct";
import type { Value } from "./generated/google/protobuf/Value";
import type { CancelWorkflowRunResponse__Output } from "./generated/aura/orchestrator/v1/CancelWorkflowRunResponse";
import type { GetWorkflowRunResponse__Output } from "./generated/aura/orchestrator/v1/GetWorkflowRunResponse";
import type { StartWorkflowRunResponse__Output } from "./generated/aura/orchestrator/v1/StartWorkflowRunResponse";
import type { OrchestratorServiceClient } from "./generated/aura/orchestrator/v1/OrchestratorService";
import type { RunEvent__Output } from "./generated/aura/orchestrator/v1/RunEvent";
import type { WorkflowRun__Output } from "./generated/aura/orchestrator/v1/WorkflowRun";
import { loadOrchestratorPackage, messageTypes } from "./protos";

export type { RunEvent__Output as RunEvent, WorkflowRun__Output as WorkflowRun };
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** PEM files for TLS: the CA that signed the orchestrator's certificate and, for mTLS, the
 * client certificate and key to present (both or neither). */
export interface TlsFiles {
  ca: string;
  cert?: string;
  key?: string;
}

/** TLS files from the variables the `aura` commands read (AURA_TLS_CA, AURA_TLS_CLIENT_CERT,
 * AURA_TLS_CLIENT_KEY); undefined, plaintext, when AURA_TLS_CA is not set. */
export function tlsFromEnv(env: NodeJS.ProcessEnv = process.env): TlsFiles | undefined {
  if (!env.AURA_TLS_CA) return undefined;
  return { ca: env.AURA_TLS_CA, cert: env.AURA_TLS_CLIENT_CERT, key: env.AURA_TLS_CLIENT_KEY };
}

/** Channel credentials: TLS verifying the server against `tls.ca` (presenting `cert`/`key`
 * when given), plaintext without `tls`. */
export function channelCredentials(tls?: TlsFiles): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new Error("TLS client certificate and key: give both or neither");
  }
  return grpc.credentials.createSsl(
    readFileSync(tls.ca),
    tls.key ? readFileSync(tls.key) : null,
    tls.cert ? readFileSync(tls.cert) : null,
  );
}

export function createClient(address: string, tls?: TlsFiles): OrchestratorServiceClient {
  const proto = loadOrchestratorPackage();
  return new proto.aura.orchestrator.v1.OrchestratorService(address, channelCredentials(tls));
}

/** JSON object -> google.protobuf.Struct in proto-loader's object form (well-known types
 * keep protobufjs's camelCase field names even with keepCase). */
export function toStruct(object: { [key: string]: JsonValue }): Struct {
  const fields: { [key: string]: Value } = {};
  for (const [key, value] of Object.entries(object)) {
    fields[key] = toValue(value);
  }
  return { fields };
}

function toValue(value: JsonValue): Value {
  if (value === null) return { nullValue: "NULL_VALUE" };
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "number") return { numberValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value) };
}

/** Unpacks a step output (google.protobuf.Any) into a plain object of its message type. */
export function unpackAny<T>(any: Any__Output | null): { typeName: string; message: T } | null {
  if (any === null || !any.type_url) return null;
  const typeName = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
  const type = messageTypes().lookupType(typeName);
  const decoded = type.decode(any.value);
  const message = type.toObject(decoded, {
    longs: String,
    enums: String,
    defaults: true,
    arrays: true,
  }) as T;
  return { typeName, message };
}

const DEFAULT_TIMEOUT_MS = 10_000;

function deadline(timeoutMs = DEFAULT_TIMEOUT_MS): grpc.CallOptions {
  return { deadline: Date.now() + timeoutMs };
}

/** A callback-style unary call as a promise. */
function unary<Res>(invoke: (callback: grpc.requestCallback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => {
      if (error) reject(error);
      else if (response === undefined) reject(new Error("empty response"));
      else resolve(response);
    });
  });
}

export class Orchestrator {
  constructor(readonly client: OrchestratorServiceClient) {}

  /** Plaintext, or TLS with `tls` (see `tlsFromEnv` for the AURA_TLS_* variables). */
  static connect(address: string, tls?: TlsFiles): Orchestrator {
    return new Orchestrator(createClient(address, tls));
  }

  close(): void {
    this.client.close();
  }

  /** StartWorkflowRun: returns the new run's name ("workflowRuns/{id}"). */
  async start(
    definition: string,
    input: { [key: string]: JsonValue },
    options: { requestId?: string; labels?: { [key: string]: string }; priority?: number } = {},
  ): Promise<string> {
    const request = {
      workflow_definition: definition,
      input: toStruct(input),
      request_id: options.requestId ?? "",
      labels: options.labels ?? {},
      // Queue priority, -100..100: when the run waits in the run queue, higher goes first.
      priority: options.priority ?? 0,
    };
    const response = await unary<StartWorkflowRunResponse__Output>((done) =>
      this.client.StartWorkflowRun(request, deadline(), done),
    );
    if (response.workflow_run === null) throw new Error("StartWorkflowRun returned no run");
    return response.workflow_run.name;
  }

  /** WatchWorkflowRun: every event of the run, from `afterSeq`, until it finishes. */
  async *watch(name: string, afterSeq = 0): AsyncGenerator<RunEvent__Output> {
    const stream = this.client.WatchWorkflowRun({ name, after_seq: afterSeq });
    for await (const response of stream) {
      const event = (response as { event: RunEvent__Output | null }).event;
      if (event !== null) yield event;
    }
  }

  /** GetWorkflowRun: the run with per-step state and outputs. */
  async get(name: string): Promise<WorkflowRun__Output> {
    const response = await unary<GetWorkflowRunResponse__Output>((done) =>
      this.client.GetWorkflowRun({ name }, deadline(), done),
    );
    if (response.workflow_run === null) throw new Error("GetWorkflowRun returned no run");
    return response.workflow_run;
  }

  async cancel(name: string, reason: string): Promise<WorkflowRun__Output> {
    const response = await unary<CancelWorkflowRunResponse__Output>((done) =>
      this.client.CancelWorkflowRun({ name, reason }, deadline(), done),
    );
    if (response.workflow_run === null) throw new Error("CancelWorkflowRun returned no run");
    return response.workflow_run;
  }
}
