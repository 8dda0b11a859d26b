"""Reading a CUDA C source for emulation: its kernels and their parameter names, the headers it
includes (for the cache key), the one rewrite it needs, and the launch stubs appended to it.

The rewrite: ``extern __shared__ T name[];`` (the dynamic shared memory of a launch) cannot be
expressed with a macro, so exactly that declaration form becomes
``T* const name = reinterpret_cast<T*>(cnn_emu_dynamic_shared);``, a pointer to the runtime's
fixed dynamic shared buffer, on the same line (line numbers stay true).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_COMMENT_STRING_OR_DIRECTIVE = re.compile(
    r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|^[ \t]*#[^\n]*", re.S | re.M
)
_GLOBAL = re.compile(r"\b__global__\b")
# After __global__: qualifiers, __launch_bounds__(...) and __cluster_dims__(x, y, z) up to the
# kernel's name and its "(".
_HEAD_TOKEN = re.compile(r"\s*(?:__launch_bounds__\s*\((?:[^()]|\([^()]*\))*\)"
                         r"|__cluster_dims__\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?(?:,\s*(\d+)\s*)?\)"
                         r"|(\w+)\s*(\()?)")
_EXTERN_SHARED = re.compile(
    r"\bextern\s+((?:(?:__shared__|__align__\s*\((?:[^()]|\([^()]*\))*\))\s+)+)"
    r"([^;\[\]{}()]*?)\s*\b(\w+)\s*\[\s*\]\s*;"
)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)
_NOT_A_NAME = {"const", "volatile", "__restrict__", "restrict", "int", "unsigned", "signed", "char",
               "short", "long", "float", "double", "bool", "void", "size_t"}


@dataclass(frozen=True)
class KernelDecl:
    """A ``__global__`` function found in the source."""

    name: str
    params: tuple[str, ...]
    is_template: bool
    cluster: tuple[int, int, int] = (1, 1, 1)  # __cluster_dims__: its blocks run in clusters of these


def blank_comments_strings_and_directives(text: str) -> str:
    """``text`` with comments, string literals and preprocessor lines blanked (offsets kept)."""
    return _COMMENT_STRING_OR_DIRECTIVE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def find_kernels(text: str) -> dict[str, KernelDecl]:
    """Every ``__global__`` function by name (a definition's parameter names win over a prototype's)."""
    code = blank_comments_strings_and_directives(text)
    kernels: dict[str, KernelDecl] = {}
    for match in _GLOBAL.finditer(code):
        found = _kernel_at(code, match.start(), match.end())
        if found is not None:
            decl, is_definition = found
            if is_definition or decl.name not in kernels:
                kernels[decl.name] = decl
    return kernels


def _kernel_at(code: str, start: int, pos: int) -> tuple[KernelDecl, bool] | None:
    cluster = (1, 1, 1)
    while True:
        token = _HEAD_TOKEN.match(code, pos)
        if token is None or token.end() == pos:
            return None
        pos = token.end()
        if token.group(1):  # __cluster_dims__(x[, y[, z]])
            cluster = tuple(int(d or 1) for d in token.group(1, 2, 3))
        if token.group(5):  # an identifier followed by "(": the kernel's name
            break
    name, close = token.group(4), _matching_paren(code, pos - 1)
    if close < 0:
        return None
    declaration_start = max(code.rfind(c, 0, start) for c in ";{}") + 1
    is_template = re.search(r"\btemplate\b", code[declaration_start:start]) is not None
    is_definition = code[close + 1:].lstrip().startswith("{")
    return KernelDecl(name, _param_names(code[pos:close]), is_template, cluster), is_definition


def _matching_paren(code: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(code)):
        depth += {"(": 1, ")": -1}.get(code[i], 0)
        if depth == 0:
            return i
    return -1


def _param_names(params: str) -> tuple[str, ...]:
    """Parameter names of a parameter list (``#i`` for an unnamed one)."""
    parts, depth, current = [], 0, ""
    for ch in params:
        depth += {"(": 1, "<": 1, "[": 1, ")": -1, ">": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    parts = [p.split("=")[0].strip() for p in parts]  # drop default arguments
    if parts in ([""], ["void"]):
        return ()
    return tuple(_param_name(part) or f"#{i}" for i, part in enumerate(parts))


def _param_name(param: str) -> str | None:
    """The declared name in one parameter (``None`` when it has only a type)."""
    tokens = re.findall(r"\w+|[*&]", re.sub(r"\[[^\]]*\]", "", param))
    if len(tokens) < 2 or tokens[-1] in _NOT_A_NAME or not tokens[-1].isidentifier():
        return None
    return tokens[-1]


def rewrite_extern_shared(text: str) -> str:
    """Turn each ``extern __shared__ T name[];`` into a pointer to the dynamic shared buffer."""

    def pointer(m: re.Match) -> str:
        if "__shared__" not in m.group(1):
            return m.group(0)
        type_, name = m.group(2).strip(), m.group(3)
        newlines = "\n" * m.group(0).count("\n")
        return f"{type_}* const {name} = reinterpret_cast<{type_}*>(cnn_emu_dynamic_shared);{newlines}"

    return _EXTERN_SHARED.sub(pointer, text)


def included_files(text: str, including_dir: Path | None, include_dirs: list[Path]) -> list[Path]:
    """The headers ``text`` includes, recursively, that exist in its folder or the include dirs."""
    found: list[Path] = []

    def scan(body: str, here: Path | None) -> None:
        for quote, name in _INCLUDE.findall(body):
            search = ([here] if quote == '"' and here is not None else []) + include_dirs
            for folder in search:
                candidate = (folder / name).resolve()
                if candidate.is_file():
                    if candidate not in found:
                        found.append(candidate)
                        scan(candidate.read_text(errors="replace"), candidate.parent)
                    break

    scan(text, including_dir)
    return found


def launch_stubs(expressions: list[str]) -> str:
    """C++ exporting, for kernel expression i, its parameter list and its per-thread body.

    ``cnn_emu::signature_of`` deduces the parameter types from the kernel's function type, so a
    templated kernel named by a name expression works the same as an ``extern "C"`` one.
    """
    lines = []
    for i, expression in enumerate(expressions):
        signature = f"cnn_emu_signature_{i}"
        lines += [
            f'#line 1 "<launch stub for {expression}>"',
            f"using {signature} = decltype(cnn_emu::signature_of(&{expression}));",
            f'extern "C" const cnn_emu::ParamInfo* cnn_emu_params_{i}(int* count) '
            f"{{ *count = {signature}::count; return {signature}::params; }}",
            f'extern "C" void cnn_emu_body_{i}(void** args) {{ {signature}::body<&{expression}>(args); }}',
        ]
    return "\n".join(lines) + "\n"
