"""benchmarks/compile_modules.py: each file built with all its instances, then a module an instance."""

import json

from benchmarks import compile_modules
from cnn_gpu.cuda import kernel


def test_each_file_is_built_whole_and_then_as_the_gpu_loader_builds_it(monkeypatch, tmp_path, capsys):
    built = []
    monkeypatch.setattr(compile_modules, "compile_cubin",
                        lambda code, options, names, label: built.append((label, tuple(names))))
    monkeypatch.setattr(compile_modules.run_info, "RESULTS", tmp_path)
    assert compile_modules.main(["--arch", "sm_80", "--tag", "test"]) == 0
    document = json.loads((tmp_path / "compile_modules_test_sm_80.json").read_text())
    rows = {row["file"] + "".join(" " + option for option in row["options"]): row for row in document["files"]}
    declared = [k for k in kernel.declared_kernels() if k.file in {row["file"] for row in document["files"]}]
    assert "gemm_wgmma.cu" not in rows  # sm_90a's alone
    for label, row in rows.items():
        mine = [k for k in declared if " ".join((k.file, *k.options)) == label]
        instances = sorted(k.name for k in mine if k.templated)
        one_by_one = [(name,) for name in instances] + [()] * any(not k.templated for k in mine)
        # A module an instance (and one for the extern "C" kernels), then the whole file in one.
        assert sorted(names for each, names in built if each == label) == sorted([*one_by_one, tuple(instances)])
        assert row["instances"] == len(instances) and row["modules"] == len(instances) + any(
            not k.templated for k in mine)
    assert f"wrote {tmp_path}" in capsys.readouterr().out
