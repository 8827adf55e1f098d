// Loads the orchestrator and service protos straight from the repository's protos/ at run
// time (@grpc/proto-loader); the types in src/generated/ come from the same files
// (`npm run generate`, proto-loader-gen-types), so the two cannot drift apart.
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

import type { ProtoGrpcType } from "./generated/orchestrator";

export const PROTO_ROOT = path.resolve(__dirname, "..", "..", "..", "protos");
export const GOOGLEAPIS_ROOT = path.resolve(__dirname, "..", "..", "..", "third_party", "googleapis");

/** Every service whose responses can appear in a run's step outputs (google.protobuf.Any). */
export const PROTO_FILES = [
  "aura/orchestrator/v1/orchestrator.proto",
  "aura/image/v1/image.proto",
  "aura/nlu/v1/nlu.proto",
  "aura/style/v1/style.proto",
  "aura/combination/v1/combination.proto",
  "aura/recommendation/v1/recommendation.proto",
];

/** Same options as `npm run generate`, so runtime objects match the generated types. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT, GOOGLEAPIS_ROOT],
};

export function loadOrchestratorPackage(): ProtoGrpcType {
  const definition = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}

let typeRoot: protobuf.Root | undefined;

/** A protobufjs root with every message type, to unpack google.protobuf.Any outputs. */
export function messageTypes(): protobuf.Root {
  if (typeRoot === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin: string, target: string): string => {
      for (const dir of [PROTO_ROOT, GOOGLEAPIS_ROOT]) {
        const candidate = path.join(dir, target);
        if (fs.existsSync(candidate)) {
          return candidate;
        }
      }
      return target;
    };
    root.loadSync(PROTO_FILES, { keepCase: true });
    root.resolveAll();
    typeRoot = root;
  }
  return typeRoot;
}
