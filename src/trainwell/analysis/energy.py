"""Energy and carbon of a run, estimated with codecarbon in offline mode (TW-R04).

codecarbon's ``OfflineEmissionsTracker`` never looks up the location or the grid online: the
carbon intensity is the yearly average of ``report.country`` from the tables codecarbon ships.
Every output it could send (CSV file, API, HTTP endpoint, Prometheus, ...) is switched off, so
a user's ``~/.codecarbon.config`` cannot make a run write files or reach the network; the
numbers are read from the tracker and saved in ``RUN_DIR/energy.json``.

Each ``fit`` session (the first run and every ``--resume``) adds one entry; a session killed
without a chance to clean up (SIGKILL, power loss) leaves none. An estimate must never break a
run, so a failure of codecarbon is recorded in the file instead of raised.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

from trainwell.config import ReportConfig
from trainwell.train.checkpoint import atomic_write_bytes

FILE = "energy.json"


def _assumptions(conf: dict[str, Any], data: Any) -> list[str]:
    hardware = ", ".join(str(h) for h in conf.get("hardware", [])) or "unknown"
    notes = [
        f"Power measured or estimated by codecarbon {conf.get('codecarbon_version')} for: "
        f"{hardware}. 'CPU(Cpu Load)' means no power counters (RAPL) were readable: the CPU's "
        "power is its TDP (or codecarbon's default when the model is unknown) times its load; "
        "RAM is a fixed per-size estimate.",
        f"Tracking mode {conf.get('tracking_mode')!r}: only this process's share of the CPU "
        "load is counted."
        if conf.get("tracking_mode") == "process"
        else "Tracking mode 'machine': the whole machine's load is counted.",
        f"Carbon intensity: the yearly average of the electricity grid of "
        f"{getattr(data, 'country_name', None) or conf.get('country_iso_code')} "
        f"({conf.get('country_iso_code')}) from codecarbon's bundled tables (offline mode, "
        "set with report.country); the real grid mix at training time may differ.",
        f"Data-centre overhead (PUE) {conf.get('pue', 1.0)}: cooling and power delivery are "
        "not included.",
        "Covers the fit after the audit: preprocessing, baselines, training, evaluation, "
        "explanations and export; not the audit, the report, or sessions that were killed.",
    ]
    return notes


class EnergyMeter:
    """Start and stop one codecarbon tracker; append the session to ``energy.json``.

    Example:
        >>> meter = EnergyMeter(Path("run"), ReportConfig(energy=False))
        >>> meter.start(); meter.stop()  # disabled: nothing is measured or written
    """

    def __init__(self, run: Path, cfg: ReportConfig) -> None:
        self.path = run / FILE
        self.cfg = cfg
        self.tracker: Any = None
        self.started = ""
        self.error: str | None = None
        self._starting: threading.Thread | None = None

    def start(self) -> None:
        """Start the tracker in the background; :meth:`stop` waits for it.

        codecarbon's set-up names the CPU through py-cpuinfo, which runs a second Python
        process: 0.3-2 s of waiting before a run could go on (issue 19). On its own thread
        the wait overlaps the run's work; the tracker measures from the end of its set-up
        (codecarbon starts its clock then), as it did when started in line. Safe to call
        twice."""
        if not self.cfg.energy or self._starting is not None:
            return
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._starting = threading.Thread(target=self._start, name="trainwell-energy", daemon=True)
        self._starting.start()

    def _start(self) -> None:
        try:
            from codecarbon import OfflineEmissionsTracker

            # codecarbon logs its set-up at INFO on stdout; only its errors concern the user.
            logging.getLogger("codecarbon").setLevel(logging.ERROR)
            self.tracker = OfflineEmissionsTracker(
                country_iso_code=self.cfg.country.upper(),
                output_methods=[],  # no CSV, API, logger, ...: the save_to_* flags are ignored
                emissions_endpoint=False,
                electricitymaps_api_token=None,
                cloud_provider=None,
                cloud_region=None,
                tracking_mode="process",
                measure_power_secs=5,
                allow_multiple_runs=True,
                log_level="error",
            )
            self.tracker.start()
        except Exception as err:  # an estimate must never stop training
            self.tracker, self.error = None, f"{type(err).__name__}: {err}"

    def stop(self, status: str = "complete") -> None:
        """Stop the tracker (if running) and record the session; safe to call twice."""
        if self._starting is not None:
            self._starting.join()
        if not self.cfg.energy or (self.tracker is None and self.error is None):
            return
        session: dict[str, Any] = {"started": self.started, "status": status}
        tracker, self.tracker = self.tracker, None
        if tracker is not None:
            try:
                tracker.stop()
                data = tracker.final_emissions_data
                conf = dict(getattr(tracker, "_conf", {}))
                session.update(
                    duration_s=float(data.duration),
                    energy_kwh=float(data.energy_consumed),
                    emissions_kg=float(data.emissions),
                    cpu_power_w=float(data.cpu_power),
                    gpu_power_w=float(data.gpu_power),
                    ram_power_w=float(data.ram_power),
                    cpu_model=data.cpu_model,
                    gpu_model=data.gpu_model or None,
                    country=data.country_iso_code,
                    country_name=data.country_name,
                    carbon_intensity_g_per_kwh=(
                        1000 * float(data.emissions) / float(data.energy_consumed)
                        if data.energy_consumed
                        else None
                    ),
                    assumptions=_assumptions(conf, data),
                    codecarbon=conf.get("codecarbon_version"),
                )
            except Exception as err:  # an estimate must never stop training
                self.error = f"{type(err).__name__}: {err}"
        if self.error is not None:
            session["error"] = self.error
            self.error = None
        record = read_energy(self.path.parent) or {"sessions": []}
        record["sessions"].append(session)
        measured = [s for s in record["sessions"] if "energy_kwh" in s]
        record["total"] = {
            "sessions": len(measured),
            "duration_s": sum(s["duration_s"] for s in measured),
            "energy_kwh": sum(s["energy_kwh"] for s in measured),
            "emissions_kg": sum(s["emissions_kg"] for s in measured),
        }
        atomic_write_bytes(self.path, (json.dumps(record, indent=2) + "\n").encode())


def read_energy(run: Path) -> dict[str, Any] | None:
    path = run / FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data
