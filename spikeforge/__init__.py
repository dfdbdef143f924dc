"""spikeforge: quantized spiking neural networks to verified FPGA hardware, with open tools."""

__version__ = "0.1.0"
