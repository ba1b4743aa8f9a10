"""Where host files are read and written: nothing else in kaudit touches a host file.

files.py is what a node agent does to a control-plane host (enable, disable, restore, the
state and pending-change records); fs.py is the file system it does it through, byte exact
and atomic, with no symlink followed below the host root.
"""
