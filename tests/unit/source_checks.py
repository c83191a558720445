"""Checks every parser's tests share: the metadata keys each source carries, and an archive that stays put."""

import io
import os
import zipfile

# The metadata keys of every parsed source, whichever provider served it.
METADATA_KEYS = {
    "contract_name", "contract_file_name", "language", "compiler_version", "optimizer", "evm_version",
    "license", "constructor_arguments", "library_links", "proxy", "implementation", "swarm_source",
    "settings", "files", "path_changes", "provider", "match",
}


def assert_archive_is_safe(blob: bytes, root) -> list[str]:
    """Check every name, then extract the way a careless tool would (no sanitising) and look where it went."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        names = archive.namelist()
        for name in names:
            assert name and not name.startswith("/"), name
            assert "\\" not in name and "\x00" not in name, name
            assert ".." not in name.split("/"), name
            assert "" not in name.split("/"), name
            assert ":" not in name.split("/")[0], name
        for name in names:
            target = os.path.join(root, *name.split("/"))
            assert os.path.realpath(target).startswith(os.path.realpath(root) + os.sep), name
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "xb") as out:  # "x": a second entry with the same path fails here
                out.write(archive.read(name))
    written = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    assert len(written) == len(names)
    return names
