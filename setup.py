# Only here to hand the C kernels to cffi (pyproject.toml holds the project metadata).
from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"])
