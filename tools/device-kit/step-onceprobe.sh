source $D/step-probe.sh  # step_onceprobe lives beside step_probe
