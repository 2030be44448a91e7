from mmc_bench.run.app import main

main()
