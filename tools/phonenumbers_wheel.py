"""The `phonenumbers` package of one version, unpacked from its PyPI wheel without installing it:
what tools/gen_phone_timezones.py and tools/gen_area_codes.py read libphonenumber's data from.

    with unpacked_phonenumbers("9.0.33") as (phonenumbers, wheel):
        ...  # phonenumbers is the imported package, wheel the wheel's file name
"""

import contextlib
import glob
import os
import subprocess
import sys
import tempfile
import zipfile


@contextlib.contextmanager
def unpacked_phonenumbers(version):
    """Yields (the imported `phonenumbers` package, the wheel's file name); the unpacked files
    last as long as the `with` block (import what you need from the package inside it)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary", ":all:", "--dest", tmp, f"phonenumbers=={version}"],
            check=True,
        )
        (wheel,) = glob.glob(os.path.join(tmp, "phonenumbers-*.whl"))
        unpacked = os.path.join(tmp, "unpacked")
        with zipfile.ZipFile(wheel) as z:
            z.extractall(unpacked)
        sys.path.insert(0, unpacked)
        try:
            import phonenumbers  # noqa: PLC0415 (imported from the unpacked wheel on purpose)
            if phonenumbers.__version__ != version:
                sys.exit(f"expected phonenumbers {version}, imported {phonenumbers.__version__}")
            yield phonenumbers, os.path.basename(wheel)
        finally:
            sys.path.pop(0)
