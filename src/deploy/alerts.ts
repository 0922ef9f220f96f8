/**
 * Prometheus alert rules for modelpipe (deploy/prometheus/alerts.yaml, written by
 * `npm run manifests`). Each reads only metrics a server exports (a test checks every
 * name against a live /metrics); thresholds are starting points to tune per model.
 * docs/operations.md explains each rule and the SLO queries behind it.
 */

export interface AlertRule {
  alert: string;
  expr: string;
  /** How long the condition must hold before the alert fires (Prometheus duration). */
  for: string;
  labels: { severity: 'page' | 'ticket' };
  annotations: { summary: string; description: string };
}

export interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

const WINDOW = '5m';

export function alertRules(): RuleFile {
  return {
    groups: [
      {
        name: 'modelpipe',
        rules: [
          {
            alert: 'ModelpipeHighErrorRatio',
            expr: `sum by (model) (rate(modelpipe_request_failures_total[${WINDOW}])) / sum by (model) (rate(modelpipe_requests_total[${WINDOW}])) > 0.05`,
            for: '10m',
            labels: { severity: 'page' },
            annotations: {
              summary: 'More than 5 % of requests to {{ $labels.model }} fail',
              description:
                'See modelpipe_request_failures_total by code: MP_ERR_QUEUE_FULL means overload, MP_ERR_MODEL_RUNTIME a failing model, client codes bad input.',
            },
          },
          {
            alert: 'ModelpipeHighLatencyP99',
            expr: `histogram_quantile(0.99, sum by (le, model) (rate(modelpipe_request_duration_seconds_bucket{phase="total"}[${WINDOW}]))) > 0.5`,
            for: '10m',
            labels: { severity: 'page' },
            annotations: {
              summary: 'p99 latency of {{ $labels.model }} is above 500 ms',
              description:
                'Check the phase split: queue growing means too few instances or replicas; compute growing means the model itself got slower.',
            },
          },
          {
            alert: 'ModelpipeQueueBacklog',
            expr: 'sum by (model) (modelpipe_queue_depth) > 100',
            for: '5m',
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.model }} has more than 100 requests queued',
              description:
                'Requests wait longer than they run: add replicas (the HPA scales on CPU) or instances, or turn dynamic batching on.',
            },
          },
          {
            alert: 'ModelpipeStuckRuns',
            expr: 'max by (model) (modelpipe_stuck_runs) > 0',
            for: '5m',
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.model }} has runs that outlived their timeout',
              description:
                'A model run has not settled after its requests timed out; past the bound the model refuses requests (MP_ERR_MODEL_STUCK) and is not ready.',
            },
          },
          {
            alert: 'ModelpipeProcessRestarts',
            expr: 'sum(increase(modelpipe_process_restarts_total[15m])) > 2',
            for: '0m',
            labels: { severity: 'ticket' },
            annotations: {
              summary: 'modelpipe server processes keep dying',
              description:
                'serve --processes restarted more than 2 processes in 15 minutes: read the pod logs for "server process … died".',
            },
          },
        ],
      },
    ],
  };
}
