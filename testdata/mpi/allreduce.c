/*
 * allreduce is the MPI program of ibex's MPI end-to-end tests. Every rank
 * prints one line with its rank, the world size, the ibex node it runs on
 * and the sum of all ranks from MPI_Allreduce:
 *
 *   rank=3 size=8 node=node002 sum=28
 *
 * The node comes from IBEX_NODENAME, not gethostname(): simulated nodes all
 * run on one host, so only the environment ibex's node agent sets tells them
 * apart. With "sleep SECONDS" as arguments, rank 0 sleeps after printing
 * and everyone waits at a barrier, which gives a test time to kill a node.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int rank, size;
	long sum = 0, mine;
	const char *node = getenv("IBEX_NODENAME");

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	mine = rank;
	MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	printf("rank=%d size=%d node=%s sum=%ld\n", rank, size, node ? node : "unset", sum);
	fflush(stdout);
	if (argc == 3 && argv[1][0] == 's') {
		if (rank == 0)
			sleep(atoi(argv[2]));
		MPI_Barrier(MPI_COMM_WORLD);
	}
	MPI_Finalize();
	return 0;
}
