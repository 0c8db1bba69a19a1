"""Component ids: the one place they are spelled (kebab-case, prefixed by section).

The unprefixed ones in the first block are the stable UI contract (SPEC section 5).
"""

# UI contract
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

# data section
DATA_SYNTH = "data-synth"
DATA_SYNTH_ROWS = "data-synth-rows"
DATA_SYNTH_NOISE = "data-synth-noise"
DATA_SYNTH_FEATURES = "data-synth-features"
DATA_SYNTH_SEED = "data-synth-seed"
DATA_UPLOAD_BUFFER = "data-upload-buffer"
DATA_UPLOAD_LIMIT = "data-upload-limit"
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
TRAIN_WARNING = "train-warning"
TRAIN_STATUS = "train-status"
PARAM_INPUT = "param-input"  # dict id type: {"type": PARAM_INPUT, "name": ...}

# evaluation section
EVAL_TABS = "eval-tabs"
EVAL_NORMALIZE = "eval-normalize"
EVAL_SUMMARY = "eval-summary"
EVAL_FIGURES = "eval-figures"
MAIN_TABS = "main-tabs"


def param_id(name: str) -> dict[str, str]:
    """The dict id of the control of hyperparameter ``name``."""
    return {"type": PARAM_INPUT, "name": name}
