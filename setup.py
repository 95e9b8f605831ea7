# Only here to hand the C kernels to cffi (pyproject.toml holds the project metadata), and to ship the
# measured data convlab reads at run time inside the package (convlab/_data/results/...), so a wheel
# install has the decision tables algo="auto" reads, the regression baselines and the seed's figures
# (convlab.paths finds them there, or in the checkout's results/ for an editable install).
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = ["results/*/decision.json", "results/*/regress_baseline.json", "results/reference/*.csv"]


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return          # an editable install reads the checkout's results/ directly
        for pattern in SHIPPED:
            for src in glob.glob(os.path.join(HERE, pattern)):
                rel = os.path.relpath(src, HERE)
                dst = os.path.join(self.build_lib, "convlab", "_data", rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(src, dst)


setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"], cmdclass={"build_py": build_py_with_data})
