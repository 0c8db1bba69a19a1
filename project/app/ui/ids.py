"""Component ids: the one place they are spelled (kebab-case, prefixed by section).

The unprefixed ones in the first block are the stable UI contract (SPEC section 5).
"""

# UI contract
WHATIF_PREDICTION = "whatif-prediction"
DOWNLOAD_MODEL = "download-model"
DOWNLOAD_CODE = "download-code"
DOWNLOAD_REPORT = "download-report"
DATA_SOURCE = "data-source"
DATA_UPLOAD = "data-upload"
DATA_STATUS = "data-status"
TARGET_COLUMN = "target-column"
MODEL_NAME = "model-name"
TRAIN_BUTTON = "train-button"
METRICS_TABLE = "metrics-table"
RUNS_TABLE = "runs-table"

# app state (small JSON only)
APP_URL = "app-url"
APP_SESSION = "app-session"
APP_URL_STATE = "app-url-state"
APP_NOTICE = "app-notice"
APP_RETRY = "app-retry"  # starts an interrupted job again
APP_RETRY_TARGET = "app-retry-target"  # the id of the button that started it
APP_ADDRESS = "app-address"  # the query the address bar shows

# the visitor's workspace as a whole
FORGET_OPEN = "forget-open"
FORGET_DIALOG = "forget-dialog"
FORGET_BODY = "forget-body"
FORGET_CONFIRM = "forget-confirm"
FORGET_CANCEL = "forget-cancel"

# data section
DATA_SYNTH = "data-synth"
DATA_SYNTH_ROWS = "data-synth-rows"
DATA_SYNTH_NOISE = "data-synth-noise"
DATA_SYNTH_FEATURES = "data-synth-features"
DATA_SYNTH_SEED = "data-synth-seed"
DATA_UPLOAD_BUFFER = "data-upload-buffer"
DATA_UPLOAD_LIMIT = "data-upload-limit"
DATA_JOB = "data-job"
DATA_PROGRESS = "data-progress"
DATA_PROGRESS_BOX = "data-progress-box"
DATA_CANCEL = "data-cancel"
DATA_VERSION = "data-version"
DATA_NOTES = "data-notes"
DATA_PREVIEW = "data-preview"
DATA_SUMMARY = "data-summary"
DATA_DIST_COLUMN = "data-dist-column"
DATA_DIST_GRAPH = "data-dist-graph"
DATA_CORR_GRAPH = "data-corr-graph"
DATA_SCATTER_X = "data-scatter-x"
DATA_SCATTER_Y = "data-scatter-y"
DATA_SCATTER_GRAPH = "data-scatter-graph"

# training section
TRAIN_TASK = "train-task"
TRAIN_FEATURES = "train-features"
TRAIN_PARAMS = "train-params"
TRAIN_TEST_SIZE = "train-test-size"
TRAIN_STRATIFY = "train-stratify"
TRAIN_SEED = "train-seed"
TRAIN_CV_FOLDS = "train-cv-folds"
TRAIN_TIME_COLUMN = "train-time-column"  # the date column a split follows
TRAIN_WARNING = "train-warning"
TRAIN_STATUS = "train-status"
TRAIN_CANCEL = "train-cancel"
TRAIN_PROGRESS = "train-progress"
TRAIN_PROGRESS_BOX = "train-progress-box"
PARAM_INPUT = "param-input"  # dict id type: {"type": PARAM_INPUT, "name": ...}

# hyper-parameter search (the Tune tab)
TUNE_OPEN = "tune-open"  # beside "Train model": opens the Tune tab
TUNE_BUTTON = "tune-button"
TUNE_PROGRESS = "tune-progress"
TUNE_PROGRESS_BOX = "tune-progress-box"
TUNE_CANCEL = "tune-cancel"
TUNE_LEADERBOARD = "tune-leaderboard"
TUNE_FIGURE = "tune-figure"
TUNE_STRATEGY = "tune-strategy"
TUNE_CANDIDATES = "tune-candidates"
TUNE_SECONDS = "tune-seconds"
TUNE_METRIC = "tune-metric"
TUNE_SPACE = "tune-space"
TUNE_STATUS = "tune-status"
TUNE_USE_BEST = "tune-use-best"
TUNE_LIVE = "tune-live"  # the search so far, as its job reports it
#: dict id types of one searched parameter's controls: {"type": ..., "name": ...}
TUNE_ON = "tune-on"
TUNE_LOW = "tune-low"
TUNE_HIGH = "tune-high"
TUNE_OPTIONS = "tune-options"

# evaluation section
EVAL_RUN = "eval-run"
#: The run whose summary and metrics table the Results tab shows.
EVAL_SHOWN = "eval-shown"
EVAL_NORMALIZE = "eval-normalize"
EVAL_SUMMARY = "eval-summary"
EVAL_FIGURES = "eval-figures"
EVAL_REMOVE = "eval-remove"
EVAL_COMPARE = "eval-compare"
EVAL_DOWNLOAD = "eval-download"
EVAL_DOWNLOAD_DATA = "eval-download-data"
EVAL_DOWNLOAD_STATUS = "eval-download-status"
SHARE_BUTTON = "share-button"
SHARE_LIST = "share-list"
SHARE_REVOKE = "share-revoke"  # dict ids: {"type": SHARE_REVOKE, "key": ...}
SHARE_PRIVATE = "share-private"
SHARE_NEW_KEY = "share-new-key"
SHARE_KEY_SHOWN = "share-key-shown"
SHARE_KEY_REVOKE = "share-key-revoke"  # dict ids, as SHARE_REVOKE
MAIN_TABS = "main-tabs"

# explanation section
EXPLAIN_REQUEST = "explain-request"  # the run to explain, once the tab is open
EXPLAIN_SUMMARY = "explain-summary"
EXPLAIN_PROGRESS = "explain-progress"
EXPLAIN_PROGRESS_BOX = "explain-progress-box"
EXPLAIN_PERMUTATION = "explain-permutation"
EXPLAIN_NATIVE = "explain-native"
EXPLAIN_FEATURE = "explain-feature"
EXPLAIN_FEATURE_2 = "explain-feature-2"
EXPLAIN_OUTPUT_BOX = "explain-output-box"
EXPLAIN_OUTPUT = "explain-output"
EXPLAIN_PDP = "explain-pdp"
EXPLAIN_PDP_2 = "explain-pdp-2"
EXPLAIN_BOUNDARY_X = "explain-boundary-x"
EXPLAIN_BOUNDARY_Y = "explain-boundary-y"
EXPLAIN_BOUNDARY = "explain-boundary"
EXPLAIN_CALIBRATION = "explain-calibration"
EXPLAIN_CLASSIFICATION = "explain-classification"

# prediction section
PREDICT_SUMMARY = "predict-summary"
PREDICT_INPUTS = "predict-inputs"
PREDICT_INPUT = "predict-input"  # dict id type: {"type": PREDICT_INPUT, "name": ...}
PREDICT_NOTE = "predict-note"  # dict id type: what is unusual about an input
WHATIF_CONTRIBUTIONS = "whatif-contributions"
PREDICT_UPLOAD = "predict-upload"
PREDICT_STATUS = "predict-status"
PREDICT_DOWNLOAD = "predict-download"
PREDICT_JOB = "predict-job"
PREDICT_PROGRESS = "predict-progress"
PREDICT_PROGRESS_BOX = "predict-progress-box"


def param_id(name: str) -> dict[str, str]:
    """The dict id of the control of hyperparameter ``name``."""
    return {"type": PARAM_INPUT, "name": name}


def input_id(name: str) -> dict[str, str]:
    """The dict id of the what-if input of feature ``name``."""
    return {"type": PREDICT_INPUT, "name": name}


def note_id(name: str) -> dict[str, str]:
    """The id of the note beside the what-if input of feature ``name``."""
    return {"type": PREDICT_NOTE, "name": name}
