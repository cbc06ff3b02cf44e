// ns-3 counterpart of experiments/scenarios/many-clients.toml: 10,000 clients, each on its
// own 100 Mbit/s, 1 ms point-to-point link to one router, which reaches the server over a
// 1 Gbit/s, 1 ms link. Each client opens one TCP connection to the server's port 80 at a
// uniformly random time in [0, 10 s), sends a 1000-byte request, reads the 1000-byte
// response and closes; the server answers each request and closes when the client has.
// Every link direction has a 100-packet drop-tail device queue and no other queue. TCP in
// common.h. Static routing: each client and the server have a default route to the router,
// which knows every client's /30 as a directly connected network (global routing would
// give each of the 10,002 nodes a route to every other link). Stops at 20 s (the scenario's
// duration). Prints the Run time and the number of completed exchanges.
#include "common.h"

#include <unordered_map>
#include <vector>

using namespace ns3;

namespace
{
const uint32_t kRequest = 1000;
const uint32_t kResponse = 1000;
uint32_t g_connected = 0;
uint32_t g_failed = 0;
uint32_t g_completed = 0;
uint32_t g_served = 0;
double g_latencySum = 0;
double g_latencyMax = 0;

// Opens one connection at its start time, sends the request, reads the response, closes.
class RequestClient : public Application
{
  public:
    void Setup(Address server)
    {
        m_server = server;
    }

  private:
    void StartApplication() override
    {
        m_opened = Simulator::Now();
        m_socket = Socket::CreateSocket(GetNode(), TcpSocketFactory::GetTypeId());
        m_socket->Bind();
        m_socket->SetConnectCallback(MakeCallback(&RequestClient::Connected, this),
                                     MakeCallback(&RequestClient::ConnectFailed, this));
        m_socket->SetRecvCallback(MakeCallback(&RequestClient::Readable, this));
        m_socket->Connect(m_server);
    }

    void StopApplication() override
    {
    }

    void DoDispose() override
    {
        m_socket = nullptr;
        Application::DoDispose();
    }

    void Connected(Ptr<Socket> s)
    {
        g_connected++;
        s->Send(Create<Packet>(kRequest));
    }

    void ConnectFailed(Ptr<Socket>)
    {
        g_failed++;
    }

    void Readable(Ptr<Socket> s)
    {
        while (Ptr<Packet> p = s->Recv())
        {
            if (p->GetSize() == 0)
            {
                break;
            }
            m_received += p->GetSize();
        }
        if (m_received >= kResponse && !m_done)
        {
            m_done = true;
            g_completed++;
            double latency = (Simulator::Now() - m_opened).GetSeconds();
            g_latencySum += latency;
            g_latencyMax = std::max(g_latencyMax, latency);
            s->Close();
        }
    }

    Address m_server;
    Ptr<Socket> m_socket;
    Time m_opened;
    uint32_t m_received{0};
    bool m_done{false};
};

// Listens on a port; answers each connection's request once all of it has arrived and
// closes when the client does.
class Responder : public Application
{
  public:
    void Setup(uint16_t port)
    {
        m_port = port;
    }

  private:
    void StartApplication() override
    {
        m_listen = Socket::CreateSocket(GetNode(), TcpSocketFactory::GetTypeId());
        m_listen->Bind(InetSocketAddress(Ipv4Address::GetAny(), m_port));
        m_listen->Listen();
        m_listen->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address&>(),
                                    MakeCallback(&Responder::Accepted, this));
        // Accepted sockets inherit these.
        m_listen->SetCloseCallbacks(MakeCallback(&Responder::PeerClosed, this),
                                    MakeCallback(&Responder::PeerError, this));
    }

    void StopApplication() override
    {
    }

    void DoDispose() override
    {
        m_listen = nullptr;
        m_received.clear();
        Application::DoDispose();
    }

    void Accepted(Ptr<Socket> s, const Address&)
    {
        s->SetRecvCallback(MakeCallback(&Responder::Readable, this));
        m_received[s] = 0;
    }

    void Readable(Ptr<Socket> s)
    {
        auto it = m_received.find(s);
        if (it == m_received.end())
        {
            return;
        }
        bool before = it->second >= kRequest;
        while (Ptr<Packet> p = s->Recv())
        {
            if (p->GetSize() == 0)
            {
                break;
            }
            it->second += p->GetSize();
        }
        if (!before && it->second >= kRequest)
        {
            s->Send(Create<Packet>(kResponse));
            g_served++;
        }
    }

    void PeerClosed(Ptr<Socket> s)
    {
        s->Close();
        m_received.erase(s);
    }

    void PeerError(Ptr<Socket> s)
    {
        m_received.erase(s);
    }

    uint16_t m_port{0};
    Ptr<Socket> m_listen;
    std::unordered_map<Ptr<Socket>, uint64_t> m_received;
};

} // namespace

int
main(int argc, char* argv[])
{
    uint32_t clients = 10000;
    auto t0 = std::chrono::steady_clock::now();
    RngSeedManager::SetSeed(1);
    ikesim_ns3::ConfigureTcp();
    CommandLine cmd(__FILE__);
    cmd.AddValue("clients", "number of clients", clients);
    cmd.Parse(argc, argv);

    Ptr<Node> router = CreateObject<Node>();
    Ptr<Node> server = CreateObject<Node>();
    NodeContainer clientNodes;
    clientNodes.Create(clients);
    InternetStackHelper stack;
    stack.Install(router);
    stack.Install(server);
    stack.Install(clientNodes);
    Ipv4StaticRoutingHelper staticRouting;

    PointToPointHelper uplink = ikesim_ns3::Link("1Gbps", "1ms");
    NetDeviceContainer updevs = uplink.Install(router, server);
    Ipv4AddressHelper upaddr("10.0.0.0", "255.255.255.252");
    Ipv4InterfaceContainer upifs = upaddr.Assign(updevs);
    ikesim_ns3::OnlyDeviceQueue(updevs);
    Ipv4Address serverAddr = upifs.GetAddress(1);
    staticRouting.GetStaticRouting(server->GetObject<Ipv4>())
        ->SetDefaultRoute(upifs.GetAddress(0), 1);

    // One /30 per client link in 10.64.0.0/10 (room for 1 M clients).
    PointToPointHelper access = ikesim_ns3::Link("100Mbps", "1ms");
    Ipv4AddressHelper caddr("10.64.0.0", "255.255.255.252");
    for (uint32_t i = 0; i < clients; i++)
    {
        Ptr<Node> c = clientNodes.Get(i);
        NetDeviceContainer d = access.Install(c, router);
        Ipv4InterfaceContainer ifs = caddr.Assign(d);
        caddr.NewNetwork();
        ikesim_ns3::OnlyDeviceQueue(d);
        staticRouting.GetStaticRouting(c->GetObject<Ipv4>())->SetDefaultRoute(ifs.GetAddress(1), 1);
    }

    const uint16_t port = 80;
    Ptr<Responder> responder = CreateObject<Responder>();
    responder->Setup(port);
    server->AddApplication(responder);
    responder->SetStartTime(Seconds(0));

    Ptr<UniformRandomVariable> start = CreateObject<UniformRandomVariable>();
    start->SetAttribute("Min", DoubleValue(0.0));
    start->SetAttribute("Max", DoubleValue(10.0));
    for (uint32_t i = 0; i < clients; i++)
    {
        Ptr<RequestClient> app = CreateObject<RequestClient>();
        app->Setup(InetSocketAddress(serverAddr, port));
        clientNodes.Get(i)->AddApplication(app);
        app->SetStartTime(Seconds(start->GetValue()));
    }

    ikesim_ns3::TimedRun(Seconds(20), ikesim_ns3::SecondsSince(t0));
    std::printf("sanity: %u of %u exchanges completed (%u connected, %u failed, %u served), "
                "latency mean %.4f ms, max %.4f ms\n",
                g_completed,
                clients,
                g_connected,
                g_failed,
                g_served,
                g_completed ? 1e3 * g_latencySum / g_completed : 0.0,
                1e3 * g_latencyMax);
    Simulator::Destroy();
    return 0;
}
