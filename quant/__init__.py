"""Training and quantization: every way a user's trained network reaches an exact integer NetSpec.

- :mod:`.data`: scikit-learn digits (embedded, no download), user ``.npz`` files and ImageFolder
  directories;
- :mod:`.methods`: the registry behind ``spikeforge train --method`` and the report every method
  shares;
- :mod:`.model`, :mod:`.export`, :mod:`.train`: ``qat``, the Brevitas QAT spiking MLP of the demo
  (binary or int-k layers, power-of-two units, IF neurons) and its exact export;
- :mod:`.convnet`, :mod:`.albsnn`: ``albsnn``, spiking conv nets with global average pooling and
  layer-selective binarization under an accuracy or storage budget;
- :mod:`.convert`: ``convert``, quantized-ReLU ANNs (MLP, small ResNet) converted into IF or
  bistable-IF SNNs by threshold balancing;
- :mod:`.direct`: ``mtlif`` and ``asnn``, direct training of multi-threshold LIF and adaptive
  neurons with any input encoding.

The submodules are imported on use (``from spikeforge.quant.train import train_digits``), so that
importing the package does not load torch and Brevitas.
"""
