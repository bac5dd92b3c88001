"""The tiny ``fastgen.run`` arguments the CLI, stop and run-file tests share: inverted_pendulum, 4 policies per
iteration, one update of each network per episode, an evaluation of 2 episodes every 200 env steps."""

TINY = ["--env", "inverted_pendulum", "--num-envs", "4", "--engine", "cpu", "--device", "cpu", "--eval.every", "200",
        "--eval.episodes", "2", "--generator.updates-per-episode", "1", "--evaluator.updates-per-episode", "1"]
