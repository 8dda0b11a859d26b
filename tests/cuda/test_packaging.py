"""The kernel sources travel in the wheel, and an installed package finds them there."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_an_unpacked_wheel_finds_its_kernels(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    shipped = {p.name for p in (site / "cnn_gpu" / "kernels").iterdir()}
    assert {p.name for p in (REPO / "kernels").glob("*.cu*")} <= shipped
    found = subprocess.run([sys.executable, "-c", "from cnn_gpu.cuda.sources import kernels_dir; print(kernels_dir())"],
                           cwd=tmp_path, env={"PYTHONPATH": str(site)}, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()) == site / "cnn_gpu" / "kernels"
