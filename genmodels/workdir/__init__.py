"""The workdir contract (DESIGN.md §4): layout and files (layout.py), config drift and history
(drift.py), the one-writer lease (lease.py). Every path goes through etils.epath."""

from genmodels.workdir.layout import (CONFIG, METRICS, EVAL_DIR, SAMPLES_DIR, CHECKPOINTS_DIR,
    HISTORY, LEASE, SAMPLE_KEY, EVAL_KEY, WorkdirError, path, config_path, metrics_path,
    samples_dir, samples_file, absolute, checkpoint_dir, is_remote, write_text_atomic,
    append_line, save_config,
    has_config, read_config_dict, load_config, parse_metrics, read_metrics, last_record,
    final_record, train_seconds, eval_path, eval_files, latest_eval, write_eval,
    checkpoint_steps, latest_step, is_finished, has_final_record)
from genmodels.workdir.drift import (SAFE_FIELDS, ConfigDriftError, is_safe_field, config_drift,
    check_drift, read_config_history, record_config)
from genmodels.workdir.lease import (LEASE_TIMEOUT_S, HEARTBEAT_S, LeaseError, read_lease,
    lease_staleness, Lease)
