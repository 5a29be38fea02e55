"""`inv` and `fab` end sooner: when the program exits, Python's last garbage collection walks every object still
alive, and Fabric, paramiko, cryptography, Invoke and rich leave a lot of them (45-55 ms of every `fab`
command's end, against 8 ms for a bare interpreter). Those objects are frozen instead (gc.freeze) when the exit
starts, so that collection skips them; the operating system frees the memory. Python never promised to
finalize objects still alive at exit, and deploytasks closes what it opens itself."""
import atexit
import gc

_registered = []


def skip_final_collection():
    """At this program's exit, freeze the objects alive (once per process)."""
    if not _registered:
        atexit.register(gc.freeze)
        _registered.append(True)
