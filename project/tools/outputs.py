"""The dashboard's callbacks as the tools and tests that call them over HTTP name
them: by their outputs (what :class:`tools.dashclient.DashClient` looks them up
by), and the sentences that say how they went."""

from __future__ import annotations

import re

from app.ui import ids

#: Loading a bundled or synthetic dataset (big ones hand the work to a job).
LOAD = [
    f"{ids.DATA_VERSION}.data",
    f"{ids.DATA_STATUS}.children",
    f"{ids.DATA_NOTES}.children",
    f"{ids.DATA_JOB}.data",
    f"{ids.DATA_SYNTH}.is_open",
]
#: Opening the page: the dataset its link names, or what the session holds.
OPEN_PAGE = [
    f"{ids.DATA_SOURCE}.value",
    f"{ids.APP_URL_STATE}.data",
    f"{ids.DATA_SYNTH_ROWS}.value",
    f"{ids.DATA_SYNTH_NOISE}.value",
    f"{ids.DATA_SYNTH_FEATURES}.value",
    f"{ids.DATA_SYNTH_SEED}.value",
    f"{ids.DATA_VERSION}.data",
    f"{ids.DATA_STATUS}.children",
    f"{ids.DATA_NOTES}.children",
]
#: Uploading a file (it is read in a job).
UPLOAD = [
    f"{ids.DATA_VERSION}.data",
    f"{ids.DATA_STATUS}.children",
    f"{ids.DATA_NOTES}.children",
    f"{ids.DATA_JOB}.data",
    f"{ids.DATA_UPLOAD_BUFFER}.data",
]
#: The background job a load or an upload hands its work to.
DATA_JOB = [
    f"{ids.DATA_VERSION}.data",
    f"{ids.DATA_STATUS}.children",
    f"{ids.DATA_NOTES}.children",
]
#: What the page calls next when an answer sets one of these props (a load or an
#: upload handing its work to a job): ``tools.dashclient.follow_ups``.
CHAINS = {f"{ids.DATA_JOB}.data": DATA_JOB}
#: Describing a loaded dataset (preview, summary, heatmap, the pickers).
DESCRIBE = [
    f"{ids.TARGET_COLUMN}.options",
    f"{ids.TARGET_COLUMN}.value",
    f"{ids.DATA_PREVIEW}.rowData",
    f"{ids.DATA_PREVIEW}.columnDefs",
    f"{ids.DATA_SUMMARY}.rowData",
    f"{ids.DATA_SUMMARY}.columnDefs",
    f"{ids.DATA_DIST_COLUMN}.options",
    f"{ids.DATA_DIST_COLUMN}.value",
    f"{ids.DATA_SCATTER_X}.options",
    f"{ids.DATA_SCATTER_X}.value",
    f"{ids.DATA_SCATTER_Y}.options",
    f"{ids.DATA_SCATTER_Y}.value",
    f"{ids.DATA_CORR_GRAPH}.figure",
]
#: Choosing a target: its task, the features offered and chosen, and the date
#: columns a split by time may follow (one preselected when it is the only one).
CHOOSE_TARGET = [
    f"{ids.TRAIN_TASK}.value",
    f"{ids.TRAIN_FEATURES}.options",
    f"{ids.TRAIN_FEATURES}.value",
    f"{ids.TRAIN_TIME_COLUMN}.options",
    f"{ids.TRAIN_TIME_COLUMN}.value",
]
#: Training (a background job); the new run's summary and metrics come with it.
TRAIN = [
    f"{ids.TRAIN_STATUS}.children",
    f"{ids.RUNS_TABLE}.rowData",
    f"{ids.EVAL_RUN}.data",
    f"{ids.MAIN_TABS}.active_tab",
    f"{ids.EVAL_SUMMARY}.children",
    f"{ids.METRICS_TABLE}.children",
    f"{ids.EVAL_SHOWN}.data",
]
#: Showing a run: its figures, and its summary and metrics table unless the
#: page already shows them (a training's answer brings its own).
SHOW_RUN = [
    f"{ids.EVAL_SUMMARY}.children",
    f"{ids.METRICS_TABLE}.children",
    f"{ids.EVAL_FIGURES}.children",
    f"{ids.EVAL_SHOWN}.data",
]
#: The data status once a dataset is loaded.
LOADED = re.compile(r"[\d,]+ rows × [\d,]+ columns")
#: The training status once a run is trained (its number in the group).
TRAINED = re.compile(r"Run (\d+): .+ trained in")
