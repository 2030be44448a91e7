from mmc_bench.app import main

main()
