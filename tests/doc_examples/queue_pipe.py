"""Exchanging objects: a Queue and a Pipe."""
from multiprocessing import Pipe, Process, Queue


def put_list(q):
    q.put([42, None, "hello"])


def send_list(conn):
    conn.send([42, None, "hello"])
    conn.close()


if __name__ == "__main__":
    q = Queue()
    p = Process(target=put_list, args=(q,))
    p.start()
    print(q.get())
    p.join()
    parent_conn, child_conn = Pipe()
    p = Process(target=send_list, args=(child_conn,))
    p.start()
    print(parent_conn.recv())
    p.join()
