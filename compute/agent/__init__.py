"""The compute agent of a hypervisor host (:class:`~compute.agent.runner.ComputeAgent`):
its operations (:mod:`.ops`), the build/delete/rebuild flows (:mod:`.lifecycle`), the
guest rebuilt from the database (:mod:`.guest`), volumes (:mod:`.volumes`), ports
(:mod:`.networks`) and its host's registration and state sync (:mod:`.sync`)."""
