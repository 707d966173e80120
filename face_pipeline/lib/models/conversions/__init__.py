"""Install-time conversions of weight files into what our runtime loads (ONNX). Each takes the
bytes of the file found in a package and returns the bytes to keep, deterministically."""
