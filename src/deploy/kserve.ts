import { DEFAULTS, ENTRYPOINT } from './manifests.js';

/** Where KServe's storage initializer puts the model (one file directly inside for ONNX). */
export const KSERVE_MODEL_DIR = '/mnt/models';
/** KServe's default ports for the Open Inference Protocol: REST and gRPC. */
export const KSERVE_HTTP_PORT = 8080;
export const KSERVE_GRPC_PORT = 8081;

/**
 * A KServe ServingRuntime: modelpipe serves ONNX over OIP v2 (REST and gRPC) beside
 * Triton. KServe fills `{{.Name}}` with the InferenceService's name.
 */
export function servingRuntime(image = DEFAULTS.image): object {
  return {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: 'ServingRuntime',
    metadata: { name: 'modelpipe' },
    spec: {
      annotations: { 'prometheus.kserve.io/port': String(KSERVE_HTTP_PORT), 'prometheus.kserve.io/path': '/metrics' },
      supportedModelFormats: [{ name: 'onnx', version: '1', autoSelect: true, priority: 2 }],
      protocolVersions: ['v2', 'grpc-v2'],
      containers: [
        {
          name: 'kserve-container',
          image,
          command: ENTRYPOINT,
          args: [
            'serve',
            KSERVE_MODEL_DIR,
            '--name',
            '{{.Name}}',
            '--listen',
            `0.0.0.0:${KSERVE_HTTP_PORT}`,
            '--grpc-listen',
            `0.0.0.0:${KSERVE_GRPC_PORT}`,
          ],
          env: [
            { name: 'MODELPIPE_PROCESSES', value: 'auto' },
            { name: 'MODELPIPE_CPU_LIMIT', valueFrom: { resourceFieldRef: { containerName: 'kserve-container', resource: 'limits.cpu' } } },
          ],
          ports: [{ containerPort: KSERVE_HTTP_PORT, protocol: 'TCP' }],
          resources: { requests: { cpu: '1', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } },
          readinessProbe: { httpGet: { path: '/v2/health/ready', port: KSERVE_HTTP_PORT }, periodSeconds: 5 },
          securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

/** An example InferenceService served by the runtime above. */
export function inferenceService(storageUri = 'gs://kfserving-examples/models/onnx'): object {
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: 'squeezenet' },
    spec: {
      predictor: {
        model: {
          modelFormat: { name: 'onnx' },
          runtime: 'modelpipe',
          protocolVersion: 'v2',
          storageUri,
        },
      },
    },
  };
}
