from storemon_pipeline.assets.raw import RAW_KEYS, raw_assets, raw_inputs
from storemon_pipeline.assets.report import store_report
from storemon_pipeline.assets.schedules import normalized_schedules
from storemon_pipeline.assets.segments import status_segments

all_assets = [*raw_assets, normalized_schedules, status_segments, store_report]

__all__ = [
    "all_assets",
    "normalized_schedules",
    "RAW_KEYS",
    "raw_inputs",
    "status_segments",
    "store_report",
]
