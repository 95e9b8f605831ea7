"""Converters from other frameworks' model files to standard ONNX that convlab's engine loads.

`tfjs`: TensorFlow.js graph models (model.json + weight shards), the form trained models take on the
npm registry.
"""
