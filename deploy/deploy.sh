#!/usr/bin/env bash
# Deploy one image, by digest, to Cloud Run as a new revision that takes NO
# traffic, reachable at its tag's URL, with every setting spelled out. Traffic
# moves later, by deploy/promote.sh, once the revision passed its smoke test
# (deploy/release.sh does the three in order).
#
#   SERVICE=dashboard REGION=europe-west1 deploy/deploy.sh IMAGE@sha256:DIGEST
#
# Required: SERVICE, REGION. Optional (defaults in brackets; docs/deploy.md
# says why each is what it is):
#   PROJECT                      Google Cloud project [gcloud's configured one]
#   CLOUD_RUN_MEMORY             memory per instance [4Gi]
#   CLOUD_RUN_CPU                vCPUs per instance [1]
#   CLOUD_RUN_CONCURRENCY        requests per instance at once [8]
#   CLOUD_RUN_MIN_INSTANCES      instances kept warm; 0 scales to zero [0]
#   CLOUD_RUN_MAX_INSTANCES      cost ceiling [1 without Redis, 3 with; more
#                                than one is refused without REDIS_URL]
#   CLOUD_RUN_TIMEOUT            request timeout in seconds [600]
#   CLOUD_RUN_CPU_ALWAYS         "false": CPU only while requests run [true]
#   CLOUD_RUN_SERVICE_ACCOUNT    identity the service runs as (required: the
#                                default compute account has far more rights)
#   CLOUD_RUN_SECRETS            secrets as environment variables, from Secret
#                                Manager: NAME=SECRET:VERSION,... (for example
#                                REDIS_URL=dashboard-redis-url:latest); the
#                                runtime identity needs secretAccessor on each
#   WEB_CONCURRENCY, GUNICORN_THREADS, LOG_LEVEL
#                                app settings [2, 4, info]; JOB_SLOTS follows
#                                CLOUD_RUN_CPU and MEMORY_MB CLOUD_RUN_MEMORY (a
#                                container sees the host's CPUs, not its share), and
#                                the app sizes its store, session quota and job
#                                budget to them unless CACHE_SIZE_MB,
#                                SESSION_QUOTA_MB or JOB_MEMORY_MB are set
#   SHARE_URL                    where published runs are kept: gs://BUCKET/prefix
#                                (deploy/share-bucket.sh creates it) [unset: on
#                                the instance's disk, gone with it; a warning]
#   STORE_URL                    where visitors' work is kept: gs://BUCKET/prefix
#                                [gs://SHARE_URL's bucket/workspaces; unset with
#                                SHARE_URL too: the instance's disk, a warning]
#   RETENTION_DAYS               how long it is kept [30; the bucket's lifecycle
#                                rule, set by deploy/share-bucket.sh, enforces it]
#   CLOUD_RUN_ENV_VARS           more app settings, KEY=VALUE;KEY=VALUE
#   DEPLOY_TAG                   the revision's tag: its URL is
#                                https://TAG---SERVICE-... [candidate]
#   COMMIT_SHA                   recorded as the revision's commit-sha label
#   GITHUB_OUTPUT                when set, gets url=, revision= and tag_url=
#
# Prints url=..., revision=... and tag_url=... (one per line) on stdout.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: SERVICE=... REGION=... $0 IMAGE@sha256:DIGEST" >&2
  exit 2
fi
image=$1
if ! [[ "$image" =~ @sha256:[0-9a-f]{64}$ ]]; then
  echo "deploy: deploy by digest (IMAGE@sha256:...), got: $image" >&2
  exit 2
fi
: "${SERVICE:?set SERVICE to the Cloud Run service name}"
: "${REGION:?set REGION to the Cloud Run region}"
: "${CLOUD_RUN_SERVICE_ACCOUNT:?set CLOUD_RUN_SERVICE_ACCOUNT to the runtime identity (deploy/setup.sh makes it)}"

common=(--region="$REGION")
if [ -n "${PROJECT:-}" ]; then
  common+=(--project="$PROJECT")
fi

tag="${DEPLOY_TAG:-candidate}"
if ! [[ "$tag" =~ ^[a-z][a-z0-9-]{0,45}$ ]]; then
  echo "deploy: DEPLOY_TAG must be lowercase letters, digits and -, got: $tag" >&2
  exit 2
fi

timeout="${CLOUD_RUN_TIMEOUT:-600}"
# Semicolon-separated (gcloud's ^;^ escape) so that values may hold commas.
env_vars="LOG_LEVEL=${LOG_LEVEL:-info}"
env_vars+=";WEB_CONCURRENCY=${WEB_CONCURRENCY:-2}"
env_vars+=";GUNICORN_THREADS=${GUNICORN_THREADS:-4}"
env_vars+=";GUNICORN_TIMEOUT=$timeout"
memory="${CLOUD_RUN_MEMORY:-4Gi}"
case "$memory" in
  *Gi) memory_mb=$((${memory%Gi} * 1024)) ;;
  *Mi) memory_mb="${memory%Mi}" ;;
  *)
    echo "CLOUD_RUN_MEMORY must be a whole number of Mi or Gi, got $memory" >&2
    exit 2
    ;;
esac
env_vars+=";MEMORY_MB=$memory_mb"
cpu="${CLOUD_RUN_CPU:-1}"
env_vars+=";JOB_SLOTS=${JOB_SLOTS:-${cpu%%.*}}"
for name in CACHE_SIZE_MB JOB_MEMORY_MB SESSION_QUOTA_MB; do
  if [ -n "${!name:-}" ]; then
    env_vars+=";$name=${!name}"
  fi
done
# A bucket setting: passed on when it is a gs:// URL, refused when it is anything
# else, a warning when neither it nor CLOUD_RUN_ENV_VARS sets it.
bucket_setting() {
  local name=$1 value=$2 unset_warning=$3
  if [ -n "$value" ]; then
    if [[ "$value" != gs://?* ]]; then
      echo "deploy: $name must be a bucket (gs://BUCKET/prefix), got: $value" >&2
      exit 2
    fi
    env_vars+=";$name=$value"
  elif [[ "${CLOUD_RUN_ENV_VARS:-}" != *"$name=gs://"* ]]; then
    echo "deploy: warning: $name is not set; $unset_warning" >&2
  fi
}
bucket_setting SHARE_URL "${SHARE_URL:-}" "published links live on an instance's \
disk and go with it (deploy/share-bucket.sh makes a bucket)"
# Visitors' work: in the published runs' bucket unless said otherwise.
store_url="${STORE_URL:-}"
if [ -z "$store_url" ] && [[ "${SHARE_URL:-}" == gs://?* ]]; then
  share_path=${SHARE_URL#gs://}
  store_url="gs://${share_path%%/*}/workspaces"
fi
bucket_setting STORE_URL "$store_url" "visitors' work lives on an instance's disk \
and goes with it (set SHARE_URL or STORE_URL to a bucket)"
if [ -n "${RETENTION_DAYS:-}" ]; then
  env_vars+=";RETENTION_DAYS=$RETENTION_DAYS"
fi
# Without Redis, each instance has its own cache and job runner: a visitor whose
# requests reached another instance would see stale work there and lose a
# running job. One instance is then the most; Redis (in CLOUD_RUN_SECRETS)
# shares both between instances.
if [[ ",${CLOUD_RUN_SECRETS:-}" == *",REDIS_URL="* ]]; then
  max_instances="${CLOUD_RUN_MAX_INSTANCES:-3}"
else
  max_instances="${CLOUD_RUN_MAX_INSTANCES:-1}"
  if ! [[ "$max_instances" =~ ^[0-9]+$ ]] || [ "$max_instances" -gt 1 ]; then
    echo "deploy: CLOUD_RUN_MAX_INSTANCES=$max_instances needs Redis: without" \
      "REDIS_URL (in CLOUD_RUN_SECRETS) each instance keeps its own jobs and" \
      "cache, and a visitor sent to another one would lose a running job." \
      "Set CLOUD_RUN_MAX_INSTANCES=1, or give REDIS_URL (docs/deploy.md)." >&2
    exit 2
  fi
fi
if [ -n "${CLOUD_RUN_ENV_VARS:-}" ]; then
  # Credentials never travel as plain variables (readable by anyone who may view
  # the service): they come from Secret Manager.
  for name in REDIS_URL SECRET_KEY AUTH_USERS; do
    if [[ ";$CLOUD_RUN_ENV_VARS" == *";$name="* ]]; then
      echo "deploy: $name is a credential; pass it in CLOUD_RUN_SECRETS" \
        "($name=SECRET:VERSION), not CLOUD_RUN_ENV_VARS" >&2
      exit 2
    fi
  done
  env_vars+=";${CLOUD_RUN_ENV_VARS}"
fi

flags=(
  --image="$image"
  "${common[@]}"
  --port=8050
  --memory="$memory"
  --cpu="$cpu"
  --concurrency="${CLOUD_RUN_CONCURRENCY:-8}"
  --min-instances="${CLOUD_RUN_MIN_INSTANCES:-0}"
  --max-instances="$max_instances"
  --timeout="$timeout"
  --cpu-boost
  --execution-environment=gen2
  --session-affinity
  --ingress=all
  --set-env-vars="^;^$env_vars"
  --no-traffic
  --tag="$tag"
  --service-account="$CLOUD_RUN_SERVICE_ACCOUNT"
  # Ready when /healthz answers (the app built, its job runner started), not when
  # the port merely accepts a connection: up to 2 minutes.
  --startup-probe="httpGet.path=/healthz,httpGet.port=8050,initialDelaySeconds=0,timeoutSeconds=2,periodSeconds=2,failureThreshold=60"
)
if [ -n "${CLOUD_RUN_SECRETS:-}" ]; then
  if ! [[ "$CLOUD_RUN_SECRETS" =~ ^[A-Z_][A-Z0-9_]*=[A-Za-z0-9_-]+:(latest|[0-9]+)(,[A-Z_][A-Z0-9_]*=[A-Za-z0-9_-]+:(latest|[0-9]+))*$ ]]; then
    echo "deploy: CLOUD_RUN_SECRETS must be NAME=SECRET:VERSION,..., got: $CLOUD_RUN_SECRETS" >&2
    exit 2
  fi
  flags+=(--update-secrets="$CLOUD_RUN_SECRETS")
fi
# Background jobs (training, importances) run between the page's progress polls,
# so by default the CPU stays allocated outside requests too.
if [ "${CLOUD_RUN_CPU_ALWAYS:-true}" = false ]; then
  flags+=(--cpu-throttling)
else
  flags+=(--no-cpu-throttling)
fi
labels="managed-by=github-actions"
if [ -n "${COMMIT_SHA:-}" ]; then
  labels+=",commit-sha=$COMMIT_SHA"
fi
flags+=(--labels="$labels" --quiet)

echo "deploy: $SERVICE in $REGION <- $image (no traffic, tag $tag)" >&2
gcloud run deploy "$SERVICE" "${flags[@]}"

described=$(gcloud run services describe "$SERVICE" "${common[@]}" --format=json)
read -r url revision tag_url < <(
  TAG="$tag" python3 -c '
import json, os, sys
status = json.load(sys.stdin).get("status", {})
tagged = [t for t in status.get("traffic", []) if t.get("tag") == os.environ["TAG"]]
print(status.get("url", "-"), status.get("latestReadyRevisionName", "-"),
      tagged[0].get("url", "-") if tagged else "-")' <<<"$described"
)
if [ "$url" = - ] || [ "$revision" = - ] || [ "$tag_url" = - ]; then
  echo "deploy: the service reports no URL, revision or tag URL after the deploy" >&2
  exit 1
fi
echo "deploy: revision $revision is at $tag_url (no traffic yet)" >&2
for line in "url=$url" "revision=$revision" "tag_url=$tag_url"; do
  echo "$line"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "$line" >>"$GITHUB_OUTPUT"
  fi
done
