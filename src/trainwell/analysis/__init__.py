"""What a run saves so its report can be built from the run directory alone.

The report (``trainwell.report``) only reads files. Anything it shows that needs the data or
the models is computed here, once, while ``fit`` still holds them:

* :mod:`~trainwell.analysis.summary`: column summary, class balance per split and a sample of
  training rows as the network's input layer sees them (TW-D13) → ``data_summary.json``;
* :mod:`~trainwell.analysis.predictions`: the shipped model's predictions from the one sealed
  evaluation of the test split (TW-D07), with the raw test rows → ``predictions/``;
* :mod:`~trainwell.analysis.groups`: metrics per group with fairlearn (TW-E04) → ``groups.json``
  and a finding when a gap is large;
* :mod:`~trainwell.analysis.explain`: permutation importance on the validation split and
  captum attributions for a few validation examples (TW-E05) → ``explanations.json``;
* :mod:`~trainwell.analysis.energy`: energy and carbon with codecarbon, offline (TW-R04) →
  ``energy.json``.
"""

from trainwell.analysis.energy import EnergyMeter
from trainwell.analysis.record import Analysis, analyze_examples, analyze_table, write_analysis
from trainwell.data.schema import check_group_columns

__all__ = [
    "Analysis",
    "EnergyMeter",
    "analyze_examples",
    "analyze_table",
    "check_group_columns",
    "write_analysis",
]
