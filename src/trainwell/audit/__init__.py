"""The audit: data quality, label quality, leakage between splits and the sealed test set.

The second pipeline stage (data → **audit** → split → …). Every check returns
:class:`~trainwell.findings.Finding` values with evidence and a fix; error findings stop
``trainwell fit`` unless the user passes ``--allow ID``.

Example:
    >>> from sklearn.datasets import load_wine
    >>> from trainwell.config import DataConfig
    >>> from trainwell.data import build_dataset
    >>> frame = load_wine(as_frame=True).frame
    >>> data = build_dataset(frame, DataConfig(target="target"), "wine", "-")
    >>> errors = [f for f in run_audit(data) if f.severity == "error"]
    >>> errors
    []
"""

from trainwell.audit.ledger import TestSetLedger, config_sha256
from trainwell.audit.runner import audit_steps, format_findings_table, run_audit, stop_on_errors
from trainwell.audit.signatures import ExactRowSignature, RoundedRowSignature, RowSignature
from trainwell.config import AuditConfig

__all__ = [
    "AuditConfig",
    "ExactRowSignature",
    "RoundedRowSignature",
    "RowSignature",
    "TestSetLedger",
    "audit_steps",
    "config_sha256",
    "format_findings_table",
    "run_audit",
    "stop_on_errors",
]
