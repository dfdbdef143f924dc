"""Brevitas quantization-aware training and the exact export to a NetSpec.

- :mod:`.data`: scikit-learn digits (embedded, no download) and user ``.npz`` data sets;
- :mod:`.model`: the QAT spiking MLP (binary or int-k layers, power-of-two units, IF neurons);
- :mod:`.export`: :func:`~spikeforge.quant.export.export_netspec`, integer and exact;
- :mod:`.train`: :func:`~spikeforge.quant.train.train_digits`, the demo's training stage.

The submodules are imported on use (``from spikeforge.quant.train import train_digits``), so that
importing the package does not load torch and Brevitas.
"""
